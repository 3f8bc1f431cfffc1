// Loaded between require.js and the Jupyter widget manager (embed-amd.js). Each AMD module that
// bundle defines finds its own files (Font Awesome fonts, chunks) next to its module URL, which
// require.js derives from the module id: map every id into the copy of dist/ this site serves,
// next to this file, instead of the page's folder or a CDN.
(function () {
  var here = document.currentScript.src;
  var dist = here.slice(0, here.lastIndexOf("/") + 1) + "vendor/html-manager/dist";
  var paths = {"@jupyter-widgets/html-manager/dist": dist};
  ["base", "base7", "controls", "controls7", "html-manager"].forEach(function (name) {
    paths["@jupyter-widgets/" + name] = dist + "/" + name;
  });
  require.config({paths: paths});
})();
