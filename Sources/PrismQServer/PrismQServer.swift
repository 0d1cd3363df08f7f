/// The PrismQ HTTP server: the REST contract over a `TaskQueue`.
///
/// The server itself comes with the server issue; the target exists now so that the package
/// keeps one shape as it grows.
enum PrismQServer {}
