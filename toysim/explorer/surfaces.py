"""Where the explorer's figure is shown: ipympl's canvas widget or an ``ipywidgets.Image``.

The figure is ipympl's canvas when ipympl is installed, else an
``ipywidgets.Image`` of the Agg rendering. ipywidgets is imported only when an
explorer is made, so toysim imports without it.
"""

from __future__ import annotations

import io
import warnings

CANVASES = ("auto", "ipympl", "image")
"""The ``canvas=`` choices: ipympl's if it is installed, ipympl's, or an image."""


def import_ipywidgets():
    """ipywidgets, or an ImportError saying how to install it."""
    try:
        import ipywidgets
    except ImportError as e:
        raise ImportError(
            "toysim.explore needs ipywidgets: pip install 'toysim[notebooks]' "
            "(or pip install ipywidgets ipympl)"
        ) from e
    return ipywidgets


def has_ipympl() -> bool:
    """Whether ipympl's canvas widget can be imported."""
    try:
        import ipympl.backend_nbagg  # noqa: F401
    except ImportError:
        return False
    return True


class ImageSurface:
    """The figure as an ``ipywidgets.Image``: the Agg buffer, encoded on each refresh.

    JPEG at quality 90: as large as a fast PNG of this figure and seven times
    quicker to encode (about 4 ms against 28 ms here), which keeps a redraw live.
    """

    def __init__(self, figure, widgets):
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.canvas = FigureCanvasAgg(figure)
        self.widget = widgets.Image(format="jpeg")

    def refresh(self, full: bool) -> None:
        """Encode the Agg buffer as a JPEG into the image widget (whatever ``full`` is)."""
        from PIL import Image

        buffer = io.BytesIO()
        rgba = Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba())
        rgba.convert("RGB").save(buffer, format="jpeg", quality=90)
        self.widget.value = buffer.getvalue()


class IpymplSurface:
    """The figure on ipympl's canvas widget, which sends the Agg buffer to the front end."""

    def __init__(self, figure, widgets):
        from ipympl.backend_nbagg import Canvas, FigureManager

        canvas = Canvas(figure)
        with warnings.catch_warnings():  # ipympl's own toolbar, built with traitlets' old API
            warnings.filterwarnings("ignore", "Passing unrecognized arguments", DeprecationWarning)
            FigureManager(canvas, 0)
        canvas.header_visible = False
        canvas.footer_visible = False
        canvas.toolbar_visible = False
        canvas.resizable = False
        # Frames go to the front end only, as ipympl does once one says "initialized". Its
        # data-URL copy of each frame (for runs without a front end) would cost a second PNG
        # per frame, and this ipympl stores it without the "data:" prefix, which the front
        # end then fails to load ("HTMLImageElement ... in the 'broken' state"): no figure.
        canvas.syncing_data_url = False
        self.canvas = canvas
        self.widget = canvas

    def refresh(self, full: bool) -> None:
        """Send the blitted lines to the front end; a full rendering (``full``) was already sent."""
        if not full:  # a full rendering has already been sent
            self.canvas.blit(self.canvas.figure.bbox)


def surface_class(canvas: str) -> type[ImageSurface] | type[IpymplSurface]:
    """The surface of ``canvas`` (one of :data:`CANVASES`): ``ipympl``'s, or for ``auto`` it
    if ipympl is installed; else the image."""
    return (
        IpymplSurface if canvas == "ipympl" or (canvas == "auto" and has_ipympl()) else ImageSurface
    )
