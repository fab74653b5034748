"""Domain services. They take a database session and the gateway, never aiohttp or Socket.IO objects."""
