"""WSGI entry for gunicorn (`web` in the Procfile)."""
from orchestrator.app import create_app
from orchestrator.runtime import start_embedded_services

app = create_app()
start_embedded_services(app)
