"""The perceptual real-vs-fake study of the Pix2Pix generators (issue 9).

``bundle`` builds and loads the images volunteers see, ``protocol`` draws each
volunteer's trial sequence, ``store`` keeps volunteers and votes in SQLite, ``server``
is the web app, ``serving`` the waitress server around it (``archopt study serve``) and
``results`` turns the votes into the perceptual error rate per network (``archopt study
results``).
"""
