"""The HTTP edge: FastAPI app factory, dependencies, routers, error mapping."""
