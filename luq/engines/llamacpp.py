"""A GGUF run by llama.cpp in this process (``xllamacpp``: llama-server's engine, no HTTP).

Greedy answers to text prompts (raw completion) or to an image and a question (the model's
chat template, with an ``mmproj`` GGUF), with llama.cpp's own timings: prompt and decode
tokens per second as its server reports them.
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path


class LlamaCppMissingError(ImportError):
    """``xllamacpp`` is not installed."""


class LlamaCppError(RuntimeError):
    """llama.cpp refused a model or a request; the message is its own."""


@dataclass
class Answer:
    """One greedy answer and llama.cpp's timings of it.

    Attributes:
        text: the generated text.
        tokens: generated token ids as llama.cpp's logprobs list them: a token after which
            the text ends mid-character (a byte piece) is left out, so with byte-fallback
            vocabularies this may be shorter than ``decode_tokens``.
        prompt_tokens / decode_tokens: tokens evaluated in the prompt / generated.
        prompt_tok_s / decode_tok_s: llama.cpp's ``prompt_per_second`` / ``predicted_per_second``.
    """

    text: str
    tokens: list[int]
    prompt_tokens: int
    decode_tokens: int
    prompt_tok_s: float
    decode_tok_s: float


def rss_bytes(field: str = "VmRSS") -> int:
    """Resident memory of this process, 0 where ``/proc`` is missing.

    Args:
        field: ``VmRSS`` (all), ``RssFile`` (mapped file pages: an mmapped GGUF) or
            ``RssAnon`` (allocated: buffers, KV cache, weights llama.cpp repacked).
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    line = next((x for x in status.splitlines() if x.startswith(f"{field}:")), "x 0 kB")
    return int(line.split()[1]) * 1024


def _png_url(image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


class LlamaCppModel:
    """A GGUF loaded in llama.cpp, answering greedily.

    Args:
        model: the language model GGUF.
        mmproj: its vision projector GGUF, for image questions.
        n_threads: CPU threads for prompt and decode.
        n_ctx: context length.
        verbose: let llama.cpp log to stderr.

    Raises:
        LlamaCppMissingError: ``xllamacpp`` is not installed.
        LlamaCppError: llama.cpp could not load the files.
    """

    def __init__(self, model: str | Path, mmproj: str | Path | None = None, n_threads: int = 2,
                 n_ctx: int = 2048, verbose: bool = False) -> None:
        try:
            import xllamacpp
        except ImportError:
            raise LlamaCppMissingError("running a GGUF needs llama.cpp's Python binding: "
                                       "pip install xllamacpp==2026.10.11549") from None
        self.model_path, self.mmproj_path = Path(model), Path(mmproj) if mmproj else None
        self.n_threads = n_threads
        for path in filter(None, (self.model_path, self.mmproj_path)):
            if not path.is_file():
                raise LlamaCppError(f"no such GGUF: {path}")
        params = xllamacpp.CommonParams()
        params.model.path = str(self.model_path)
        if self.mmproj_path:
            params.mmproj.path = str(self.mmproj_path)
        params.n_ctx, params.n_parallel = n_ctx, 1
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = n_threads
        params.verbosity = 3 if verbose else -1
        before = rss_bytes()
        try:
            self._server = xllamacpp.Server(params)
        except Exception as err:  # the binding raises RuntimeError subclasses of its own
            raise LlamaCppError(f"llama.cpp could not load {self.model_path}: {err}") from None
        # One request before anything else: it returns once the server loop runs. Dropping a
        # server whose loop has not started yet can hang in its destructor (a missed stop).
        self._server.handle_completions({"prompt": "a", "max_tokens": 1, "temperature": 0.0})
        self.rss_after_load = rss_bytes()
        self.rss_load_delta = self.rss_after_load - before

    @property
    def file_bytes(self) -> int:
        """Bytes of the model GGUF plus the mmproj GGUF."""
        return sum(p.stat().st_size for p in filter(None, (self.model_path, self.mmproj_path)))

    def answer(self, prompt: str | list[int], image=None, max_tokens: int = 32,
               ignore_eos: bool = False, chat: bool = False) -> Answer:
        """One greedy answer.

        Args:
            prompt: text (completed as is), or token ids (text-only models, no mmproj).
            image: a PIL image: the prompt becomes a chat turn with the image first (needs
                ``mmproj``).
            max_tokens: most tokens to generate.
            ignore_eos: keep generating past end-of-sequence (for timing).
            chat: send a text prompt as a user turn through the model's chat template.
        """
        request = {"max_tokens": max_tokens, "temperature": 0.0, "top_k": 1, "seed": 0,
                   "logprobs": 1, "cache_prompt": False, "ignore_eos": ignore_eos}
        if image is not None and self.mmproj_path is None:
            raise LlamaCppError("an image needs the model's mmproj GGUF")
        if image is not None or chat:
            content = ([{"type": "image_url", "image_url": {"url": _png_url(image)}}]
                       if image is not None else []) + [{"type": "text", "text": str(prompt)}]
            request.update(messages=[{"role": "user", "content": content}], top_logprobs=1,
                           logprobs=True)
        try:
            reply = (self._server.handle_chat_completions(request) if "messages" in request
                     else self._server.handle_completions(dict(request, prompt=prompt)))
        except (RuntimeError, IndexError, ValueError) as err:  # C++ exceptions, translated
            raise LlamaCppError(f"llama.cpp failed on the request: {err}") from None
        if "error" in reply or "choices" not in reply:
            raise LlamaCppError(json.dumps(reply.get("error", reply))[:500])
        choice, timings = reply["choices"][0], reply["timings"]
        text = choice["message"]["content"] if "message" in choice else choice["text"]
        return Answer(text=text or "",
                      tokens=[t["id"] for t in (choice.get("logprobs") or {}).get("content", [])],
                      prompt_tokens=int(timings["prompt_n"]),
                      decode_tokens=int(timings["predicted_n"]),
                      prompt_tok_s=float(timings["prompt_per_second"]),
                      decode_tok_s=float(timings["predicted_per_second"]))

    def answers(self, prompts: list[str], images: list | None = None, max_tokens: int = 32,
                chat: bool = False) -> list[Answer]:
        """Greedy answers to each prompt (with the matching image, when given)."""
        images = images if images is not None else [None] * len(prompts)
        return [self.answer(p, im, max_tokens, chat=chat) for p, im in zip(prompts, images)]

    def report(self, answers: list[Answer]) -> dict:
        """File bytes, RSS after load, and token-weighted prompt / decode speed of ``answers``."""
        def rate(n: str, s: str) -> float:
            seconds = sum(getattr(a, n) / getattr(a, s) for a in answers if getattr(a, s))
            return round(sum(getattr(a, n) for a in answers) / seconds, 2) if seconds else 0.0

        return {"file_bytes": self.file_bytes, "rss_after_load_bytes": self.rss_after_load,
                "rss_load_delta_bytes": self.rss_load_delta, "threads": self.n_threads,
                "prompt_tok_s": rate("prompt_tokens", "prompt_tok_s"),
                "decode_tok_s": rate("decode_tokens", "decode_tok_s"),
                "answers": [asdict(a) for a in answers]}

    def close(self) -> None:
        """Frees llama.cpp's model and context."""
        self._server = None

    def __enter__(self) -> LlamaCppModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
