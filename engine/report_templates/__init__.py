"""Organizations' own Word templates for the reports the product makes (docxtpl in a sandbox)."""
