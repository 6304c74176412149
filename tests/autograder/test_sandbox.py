"""The untrusted side stays apart: it never imports the trusted side of the grader."""

import ast
import sys
from pathlib import Path

import autograder.sandbox

SANDBOX = Path(autograder.sandbox.__file__).parent


def test_sandbox_never_imports_the_trusted_side():
    for path in SANDBOX.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: within the sandbox package
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] != "autograder", f"{path.name} imports {name}"


def test_the_sandbox_core_uses_the_standard_library_only():
    # The runner and protocol start before any submission code; lesson probes may import
    # the libraries a lesson teaches, inside their functions.
    for path in (SANDBOX / "runner.py", SANDBOX / "protocol.py", SANDBOX / "confine.py", SANDBOX / "__main__.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            assert all(name.split(".")[0] in sys.stdlib_module_names or name == "__future__" for name in names)


def test_the_package_init_runs_nothing():
    # `python -m autograder.sandbox` executes autograder/__init__.py in the sandbox process.
    tree = ast.parse((SANDBOX.parent / "__init__.py").read_text())
    assert all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in tree.body)
