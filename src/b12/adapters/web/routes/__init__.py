"""Route modules, one ``APIRouter`` each; ``b12.adapters.web.app.ROUTERS`` includes them in order."""
