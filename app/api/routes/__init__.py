"""One APIRouter per resource; assembled in ``app.api.main``."""
