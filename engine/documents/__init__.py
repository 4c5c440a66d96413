"""Controlled documents (7.5): what the workflow engine cannot hold — who acknowledged reading a version —
and the generic parts of a document's renditions (safe Markdown, text of a docx, a diff, the 作废 mark)."""
