"""The browser's face: the HTML shells and assets of ``web/``; data comes from GraphQL."""
