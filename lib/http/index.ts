export { HttpError, unauthorized, validationFailed, type FieldError } from './errors';
export { httpHandler, type ApiHandler, type HandlerInput, type HandlerOptions } from './handler';
export { requireFile } from './body';
export type { MultipartFile, MultipartForm } from './multipart';
export { created, noContent, ok, type HttpResponse } from './response';
