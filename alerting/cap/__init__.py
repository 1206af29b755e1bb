"""CAP 1.2 (OASIS Common Alerting Protocol): read it safely, turn it into alerts, write it back.

- `parse`: bytes from outside -> a `CapMessage` (document.py), or a `CapError` naming the element.
- `imports`: a `CapMessage` -> a draft alert, or an Update/Cancel applied to the alert it references.
- `export`: an alert -> CAP 1.2 XML, valid against the OASIS schema; `atom`: the public feed.
- `feeds`: following upstream CAP feeds (the rule, the feed formats, what each new message becomes).
- `short`: WEA-sized texts (90 and 360 characters) cut at sentence or word boundaries.
Nothing is imported here, so `import alerting.cap.parse` pulls in only what parsing needs.
"""
