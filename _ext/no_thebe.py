"""Switch off sphinx-thebe, which Jupyter Book 1 always loads.

The book has no live-code (Thebe) button, yet sphinx-thebe adds its configuration script
to every page once per reading pass, so pages declared ``const THEBE_JS_URL`` twice -- a
console error -- and named a CDN script. Removing its event handlers leaves pages clean.
"""


def drop_thebe_handlers(app):
    for listeners in app.events.listeners.values():
        listeners[:] = [
            listener
            for listener in listeners
            if getattr(listener.handler, "__module__", "") != "sphinx_thebe"
        ]


def setup(app):
    app.connect("builder-inited", drop_thebe_handlers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
