"""Who is asking: launch tokens from the host platform, server-side sessions, and role and scope checks."""
