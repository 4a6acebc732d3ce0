"""The operators' console: portal pages for members of flagship firms (hub operators).

Every action goes through the services of the app that owns the rule; these views parse,
make one service or selector call and render (DESIGN.md "One write path")."""
