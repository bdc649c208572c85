"""The README.md written beside an exported GGUF: how to run it, and each block's type."""

from __future__ import annotations

from luq.export import rules
from luq.plan import BitPlan

PYTHON_RUN = """import base64, xllamacpp  # pip install xllamacpp (llama.cpp's server engine)

params = xllamacpp.CommonParams()
params.model.path, params.mmproj.path, params.n_ctx = "{model}", "{mmproj}", 512
server = xllamacpp.Server(params)
image = base64.b64encode(open("picture.png", "rb").read()).decode()
reply = server.handle_chat_completions({{"max_tokens": 8, "temperature": 0, "messages": [{{
    "role": "user", "content": [
        {{"type": "image_url", "image_url": {{"url": "data:image/png;base64," + image}}}},
        {{"type": "text", "text": "{question}"}}]}}]}})
print(reply["choices"][0]["message"]["content"])"""


def readme(export, plan: BitPlan, question: str = "Describe the image.") -> str:
    """README.md text: how to run the files (llama.cpp's tools, or Python), and the type of
    every decoder block.

    Args:
        export: a :class:`~luq.export.gguf.GGUFExport` (its README path is not read).
        plan: the exported plan.
        question: the example question of the command lines.
    """
    m, mm = export.model.name, export.mmproj.name if export.mmproj else None
    types = export.tensor_types
    lines = [f"# {m}", "", "A LUQ mixed-precision GGUF: each decoder block at its own ggml type "
             f"(token_embd {types.get('token_embd.weight')}, output "
             f"{types.get('output.weight', 'tied to token_embd')}, norms F32).", "", "## Run", "",
             "With llama.cpp's tools:", "", "```sh"]
    if mm:
        lines += [f"llama-mtmd-cli -m {m} --mmproj {mm} --image picture.png "
                  f"-p '{question}' -t 2",
                  f"llama-server -m {m} --mmproj {mm} -t 2 --port 8080"]
    else:
        lines += [f"llama-cli -m {m} -p 'Hello' -n 32 -t 2",
                  f"llama-server -m {m} -t 2 --port 8080"]
    lines += ["```", ""]
    if mm:
        lines += ["From Python, in this folder with a `picture.png` (no compiler needed):", "",
                  "```python", PYTHON_RUN.format(model=m, mmproj=mm, question=question), "```",
                  ""]
    lines += [f"Files: `{m}` ({export.model_bytes / 2**20:.2f} MiB)"
              + (f", `{mm}` ({export.mmproj_bytes / 2**20:.2f} MiB)" if mm else ""), "",
              "## Decoder blocks", "", "| block | LUQ setting | GGUF type | stored as |",
              "|---|---|---|---|"]
    stored = export.stored_block_types()
    lines += [f"| {i} | {a.spec.label} | {export.block_types[i]} | {stored.get(i, '-')} |"
              for i, a in ((rules.block_index(a.name), a) for a in plan.layers)]
    if export.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in export.notes]
    return "\n".join(lines) + "\n"
