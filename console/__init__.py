"""The aiohttp web application: the JSON API, provider webhooks and (later) the operators' console.

It adds no business rules: every handler checks who is asking, then calls one core function.
"""
