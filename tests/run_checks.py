"""What a learner sees of a notebook that ran top to bottom, read from its saved outputs: the
red blocks no text announces, what the recap counted, figures that came out as text. The
browser test reads them from the Lab's runs, the lesson tests from the headless solution runs."""

from __future__ import annotations

ANNOUNCED = "announced-stderr"  # a cell whose stderr the text before it announces


def red_blocks(notebook: dict) -> list[str]:
    """Errors and stderr a learner would see in red, from cells not tagged as announcing them."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code" or ANNOUNCED in cell.get("metadata", {}).get("tags", []):
            continue
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                found.append(f"cell {index} ({cell.get('id')}): {output['ename']}: {output['evalue']}")
            elif output["output_type"] == "stream" and output["name"] == "stderr":
                text = "".join(output["text"])
                found.append(f"cell {index} ({cell.get('id')}) stderr: {text[:300]}")
    return found


def printed(cell: dict) -> str:
    return "\n".join(
        "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
        for output in cell.get("outputs", [])
    )


def recap_summary(notebook: dict) -> str:
    """What the recap (the last ``report()`` cell) printed. A learner's notebook ends with the
    release's "hand it in" cell after it, which must say calmly that no server is configured."""
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    recap = max(i for i, cell in enumerate(code) if "".join(cell["source"]).strip() == "report()")
    after = code[recap + 1 :]
    assert all("No grading server is configured" in printed(cell) for cell in after), (
        "after the recap, only the hand-in cell, saying that no grading server is configured"
    )
    return printed(code[recap])


def image_outputs(notebook: dict) -> tuple[int, list[str]]:
    """How many outputs are PNG images, and which figures came out as text only."""
    images, text_only = 0, []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                images += 1
            elif "<Figure size" in "".join(data.get("text/plain", "")):
                text_only.append(cell.get("id"))
    return images, text_only
