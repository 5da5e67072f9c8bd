"""Provider webhooks and client-facing endpoints; each module exposes `bp`."""
