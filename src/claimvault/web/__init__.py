"""HTTP layer: app factory, middleware, error format, TLS serving. The domain never imports this package."""
