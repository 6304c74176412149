import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The notebooks run on asyncio (Jupyter's loop, uvicorn's loop): test on it alone.
    return "asyncio"
