"""The /v1 REST API; each module exposes a flask-smorest blueprint `blp`."""
