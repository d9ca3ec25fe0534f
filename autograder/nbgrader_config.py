# The course's nbgrader configuration, copied into every course directory by `python -m autograder`; plain
# nbgrader commands run in the course directory use it too (`nbgrader autograde` grades with the same engine).
# Preprocessors are named by their import path, so commands that don't grade never import the engine (or torch).
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

# Feedback goes to students: no hidden test, and errors reduced to the message written for them. Markdown and outputs
# are sanitized (nbconvert's SanitizeHTML, on bleach): a submission cannot put a script into the page its student,
# or an instructor, opens.
c.SanitizeHTML.enabled = True
c.GenerateFeedback.preprocessors = [
    "nbconvert.preprocessors.sanitize.SanitizeHTML",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograder.feedback.StudentFacingErrors",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
