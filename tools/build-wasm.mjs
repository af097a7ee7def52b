// Placeholder until the WebAssembly kernel set lands: builds nothing.
