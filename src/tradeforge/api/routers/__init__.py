"""HTTP routers, one module per feature. Routers parse, call a service, wrap the result."""
