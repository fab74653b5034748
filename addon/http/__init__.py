"""aiohttp handlers of the core: health, sessions, and the request → principal step every handler shares."""
