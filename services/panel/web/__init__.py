"""The panel's pages: server-rendered HTML for operators and the provider's admins."""
