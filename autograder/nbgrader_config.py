# The course's nbgrader configuration, copied into every course directory by `python -m autograder`; plain
# nbgrader commands run in the course directory use it too (`nbgrader autograde` grades with the same engine).
# Preprocessors are named by their import path, so commands that don't grade never import the engine (or torch).
import importlib.util
import os

c = get_config()  # noqa: F821 - provided by nbgrader's config loader
c.CourseDirectory.course_id = "loss-functions"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Intake: nbgrader's sanitizing, after autograder/intake.py's RepairCells: a solution cell split in two is merged back,
# and a deleted grade cell is put back from the source and run (as nbgrader's add_missing_cells does) instead of
# scoring 0.
c.Autograde.sanitize_preprocessors = [
    "autograder.intake.RepairCells",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Grading: the student's cells run in a sandbox and the hidden tests in the grader (autograder/engine.py), instead
# of nbgrader's Execute, which runs both in one kernel. A cell that runs longer than the timeout scores 0.
c.Autograde.autograde_preprocessors = [
    "autograder.engine.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.SandboxedExecute.timeout = 30

# Files a student's computer adds to a submission are not copied into autograded/ and feedback/ (nbgrader copies
# every other file of the submission folder there).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
                            ".DS_Store", "._*", "__MACOSX", "Thumbs.db", "desktop.ini"]

# Feedback goes to students: no hidden test, errors reduced to the message written for them, no folder of the grading
# machine. Markdown and outputs are sanitized (nbconvert's SanitizeHTML, on bleach): a submission cannot put a script
# into the page its student, or an instructor, opens.
c.SanitizeHTML.enabled = True
c.GenerateFeedback.preprocessors = [
    "nbconvert.preprocessors.sanitize.SanitizeHTML",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograder.feedback.StudentFacingErrors",
    "autograder.feedback.WithoutServerPaths",
    "autograder.feedback.TestCellHeadings",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# The page: nbgrader's `feedback` template with autograder/templates/feedback/ first on its path, whose
# course_feedback.html.j2 names each test cell by what it checks and wraps long lines, and whose mathjax.html.j2
# inlines MathJax from the course's copy (the page works offline). nbgrader's API sets the template's name to
# `feedback` itself, so the file is named instead.
c.HTMLExporter.template_file = "course_feedback.html.j2"
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(os.path.dirname(importlib.util.find_spec("autograder").origin), "templates"),
    os.path.join(os.path.dirname(importlib.util.find_spec("nbgrader").origin), "server_extensions", "formgrader",
                 "templates"),
]
c.HTMLExporter.filters = {"mathjax_source": "autograder.feedback.mathjax_source"}
