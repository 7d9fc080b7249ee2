"""Background workers of the service: payment collections, the SMS outbox, serial pushes to meters.

Each worker is an asyncio task started by the app's lifespan; rows are claimed with conditional updates
so that several service processes can run workers on the same database without doing a job twice.
"""
