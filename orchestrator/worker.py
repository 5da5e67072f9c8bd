"""Entry for the `dramatiq` command (`worker` in the Procfile): builds the app, declares actors."""
from orchestrator.app import create_app

app = create_app()
broker = app.extensions["chorus_broker"]
