// b12's own start-up for the vendored Swagger UI (a file, not an inline script, so that the app's
// Content-Security-Policy "script-src 'self'" holds on /docs too).
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false,
    tryItOutEnabled: false,
    validatorUrl: null
  });
});
