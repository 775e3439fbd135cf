export { HttpError, unauthorized, validationFailed, type FieldError } from './errors';
export { httpHandler, type ApiHandler, type HandlerInput, type HandlerOptions } from './handler';
export { requireFile, type MultipartFile, type MultipartForm } from './body';
export { created, noContent, ok, type HttpResponse } from './response';
