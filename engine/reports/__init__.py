"""Document builders (python-docx, openpyxl)."""
