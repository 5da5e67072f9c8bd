"""The marketers' web UI; each module exposes `bp`."""
