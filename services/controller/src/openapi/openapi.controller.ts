// SPDX-License-Identifier: Apache-2.0
import { Controller, Get } from '@nestjs/common';
import { Public } from '../auth/roles.js';
import { openApiDocument } from './openapi-document.js';

@Controller('api/v1')
export class OpenApiController {
  private readonly document = openApiDocument();

  @Get('openapi.json')
  @Public()
  get(): unknown {
    return this.document;
  }
}
