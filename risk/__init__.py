"""Risk engine: real-time detections, levels and aggregation for each sign-in (pure library).

No Flask, SQLAlchemy or Authlib here: idp/ builds the frozen inputs and implements the
history repository. Start-up: `RiskSettings.from_mapping(...)` (risk.settings), then
`Feeds.load(settings)` (risk.feeds), then `RiskEngine(settings, feeds, repository)`
(risk.engine). Per attempt: `engine.evaluate(SignInContext(...))` -> `Assessment`, then
`repository.record(ctx, assessment.ip_info, assessment, succeeded)`. User risk is
`risk.userrisk.user_risk_level(...)`; the wire vocabulary is in risk.vocabulary.
"""
