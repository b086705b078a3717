"""The report's sections, one module each: its ``KEY`` (the anchor, and the template
``templates/{KEY}.html`` that renders it), its ``TITLE`` and one data function,
``data(study) -> dict``, whose result is what the template is given. The prose is the
templates'; the order of the page is :data:`archopt.report.html.SECTIONS`.
"""
