import Rendering

/// Renders `scene` for a label test: a constant grey environment and one small key light, 4 spp,
/// seed 5 (shared by the hair and accessory tests).
func renderForTest(_ scene: HeadScene, camera: Camera, threads: Int) -> Film {
    var l = Lighting()
    l.environment = .constant(SIMD3(repeating: 0.5))
    l.lights = [Light(position: SIMD3(0.5, 0.5, 1), color: SIMD3(repeating: 2), radius: 0.05)]
    let integrator = Integrator(appearance: Appearance(), lighting: l, background: Background(), effects: CameraEffects(),
                                settings: RenderSettings(samplesPerPixel: 4, threads: threads))
    let film = Film(width: camera.width, height: camera.height)
    integrator.render(scene, camera: camera, seed: 5, into: film)
    return film
}
