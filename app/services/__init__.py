"""Use cases. Each public function takes a session first and is one transaction (or says
why it is two), raises domain errors from `app.errors`, and returns plain objects."""
