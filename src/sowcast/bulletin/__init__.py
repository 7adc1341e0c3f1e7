"""Agency bulletins (``sowcast bulletin``): from a products folder, for each language, a
self-contained HTML page, a PDF and SMS advice, with maps and charts.

* :mod:`.options` is the ``bulletin:`` config group, :mod:`.stage` the stage (``run(options)``);
* :mod:`.products_folder` reads the products, :mod:`.skill` a verification scorecard;
* :mod:`.catalogue` and :mod:`.translator`: gettext catalogues (``locales/<lang>/LC_MESSAGES/
  sowcast.po``, English the source) and the language's formats of dates and numbers (babel);
* :mod:`.borders`, :mod:`.maps`, :mod:`.charts`: the figures (matplotlib, Natural Earth
  borders shipped in ``data/``);
* :mod:`.document` gathers the content of one bulletin in one language; :mod:`.html_page`
  and :mod:`.pdf_document` lay it out; :mod:`.sms` and :mod:`.gsm7` write the SMS advice.
"""
