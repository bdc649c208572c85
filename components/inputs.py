"""Input components whose bad values get one short clear line, not the framework's message.

Gradio validates a value before the handler sees it (a dropdown's choices, a number's
type); its messages echo whatever was sent, however long. These subclasses render exactly
as Gradio's own (``is_template``) and turn any such failure into a short ``gr.Error`` that
names the control and, for a choice, what it accepts.
"""

from __future__ import annotations

import gradio as gr


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _clear(base: type) -> type:
    class Clear(base):
        is_template = True  # the frontend renders Gradio's own component

        def preprocess(self, payload):
            try:
                return super().preprocess(payload)
            except Exception as err:  # noqa: BLE001 - any failure becomes one clear line
                choices = [c[1] if isinstance(c, tuple) else c
                           for c in getattr(self, "choices", None) or []]
                known = f"; one of {', '.join(map(str, choices))}" if choices else ""
                why = " ".join(str(getattr(err, "message", err)).split())
                why = f" ({why.rstrip('.')})" if why and len(why) <= 100 and not choices else ""
                raise gr.Error(f"{self.label or 'A value'}: {_short(payload)} is not a valid "
                               f"value{why}{known}.") from None

    Clear.__name__ = Clear.__qualname__ = base.__name__
    return Clear


Dropdown = _clear(gr.Dropdown)
Radio = _clear(gr.Radio)
Number = _clear(gr.Number)
Slider = _clear(gr.Slider)
Checkbox = _clear(gr.Checkbox)
