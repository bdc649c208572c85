"""Reading user images safely: clear errors for bad files, any mode converted to RGB."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 25_000_000  # larger images are refused before decoding (decompression bombs)


def load_image(source: str | Path | Image.Image, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """An RGB copy of ``source``; alpha is composited onto white, palettes and CMYK converted.

    Raises:
        ValueError: not an image, truncated, or larger than ``max_pixels``; the message says
            which.
    """
    if isinstance(source, Image.Image):
        image = source
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image = Image.open(source)
                if image.width * image.height > max_pixels:
                    raise ValueError(f"the image is {image.width}x{image.height} pixels; the "
                                     f"limit is {max_pixels:,} pixels")
                image.load()
        except (UnidentifiedImageError, Image.DecompressionBombError,
                Image.DecompressionBombWarning) as err:
            if isinstance(err, UnidentifiedImageError):
                raise ValueError("the file is not an image PIL can read (PNG, JPEG, WebP, "
                                 "GIF, BMP, TIFF...)") from None
            raise ValueError(f"the image is too large to decode safely ({err})") from None
        except FileNotFoundError:
            raise ValueError(f"no such file: {source}") from None
        except OSError as err:
            raise ValueError(f"the image file is damaged or truncated ({err})") from None
    if image.width * image.height > max_pixels:
        raise ValueError(f"the image is {image.width}x{image.height} pixels; the limit is "
                         f"{max_pixels:,} pixels")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
