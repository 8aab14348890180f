// \(t) stage.
