import asyncio

from .bootstrap import main

asyncio.run(main())
