import subprocess
import sys

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The notebooks run on asyncio (Jupyter's loop, uvicorn's loop): test on it alone.
    return "asyncio"


@pytest.fixture
def busy_core():
    """A process that keeps one core busy for the length of the test."""
    # It spins until its parent is gone, so even a killed test run leaves no burner behind.
    burner = subprocess.Popen([sys.executable, "-c", "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"])
    try:
        yield burner
    finally:
        burner.kill()
        burner.wait()
