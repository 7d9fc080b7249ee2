"""Local fake servers speaking the providers' documented wire formats (shared field notes 3-4).

Each fake is a real HTTP server on 127.0.0.1 (uvicorn in a background thread) with knobs for the
payer's answer (approve/decline/timeout/wrong amount), duplicate callbacks, forged callbacks, 5xx and
slow answers. The adapters in api.payments / api.sms are tested against them.
"""
