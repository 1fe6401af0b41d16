"""nbgrader settings for the callbacks course: nbgrader's folders mapped onto this project."""

import os

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "keras-callbacks"
# Where nbgrader keeps its steps. The course root defaults to the folder nbgrader runs in;
# run nbgrader from the project root, or set NBGRADER_COURSE_ROOT for another course folder.
c.CourseDirectory.root = os.environ.get("NBGRADER_COURSE_ROOT", os.path.dirname(os.path.abspath(__file__)))
c.CourseDirectory.source_directory = "assignments"
c.CourseDirectory.release_directory = "release"
# Never copied into the release: the grader's folder beside each source notebook (hidden checks,
# reference values), and what a run of the notebook writes beside it (the instructor's, in
# Jupyter, or the grader's), so the best weights and logs never go out to students either.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",  # nbgrader's defaults
    "grading",
    "checkpoints", "logs", ".autograder", "*.weights.h5", "*.keras", "events.out.tfevents.*",
]

# nbgrader's per-cell timeout (there is no whole-notebook limit). The training cell takes a
# few seconds; each hidden check starts a grader process that imports TensorFlow (~3 s).
c.Execute.timeout = 300

# A test cell scores 0 if it writes anything to stderr. TensorFlow and Keras write start-up
# notices and warnings there, even in passing cells; drop those outputs before scoring.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|TF_ENABLE_ONEDNN_OPTS"
    r"|UserWarning|Skipping variable loading|tensorflow/core|computation_placer"
)
