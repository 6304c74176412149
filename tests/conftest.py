import subprocess
import sys

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The notebooks run on asyncio (Jupyter's loop, uvicorn's loop): test on it alone.
    return "asyncio"


# A process that spins until its parent is gone, so even a killed test run leaves no burner behind.
BUSY_CORE = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"


@pytest.fixture
def busy_core():
    """A process that keeps one core busy for the length of the test."""
    burner = subprocess.Popen([sys.executable, "-c", BUSY_CORE])
    try:
        yield burner
    finally:
        burner.kill()
        burner.wait()
