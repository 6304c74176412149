"""``python -m autograder.sandbox``: the process a submission's code runs in."""

import asyncio

from .runner import main

asyncio.run(main())
